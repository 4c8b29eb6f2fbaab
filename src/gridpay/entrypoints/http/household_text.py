"""The households' pages in Chinese and English: every word the templates show, by key.

One table per language with the same keys (checked at import), so a page never mixes the two
by accident. Dates and numbers are formatted here too, the way each language writes them.
"""

from __future__ import annotations

import datetime as dt

from gridpay.domain.money import format_fen, format_kwh, format_price

LANGUAGES = ("zh", "en")

_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip

ZH: dict[str, str] = {
    "title": "电费账户",
    "lang_switch": "English",
    "large_on": "大字",
    "large_off": "标准字号",
    "nav_home": "首页",
    "nav_activity": "缴费与消息",
    "nav_statements": "账单",
    "nav_settings": "设置",
    "sign_out": "退出登录",
    "sign_out_everywhere": "在所有设备上退出",
    "signin_title": "登录",
    "signin_intro": "请输入户号，我们将通过短信发送验证码。",
    "account_no": "户号（10位数字）",
    "contact_phone": "家人登录：请输入您的手机号（户主本人请留空）",
    "send_code": "发送验证码",
    "code_title": "输入验证码",
    "code_sent_to": "验证码已发送至 {phone}，{minutes}分钟内有效。",
    "code": "验证码（6位数字）",
    "sign_in": "登录",
    "ask_again": "重新获取验证码",
    "balance": "可用余额",
    "yuan": "元",
    "days_left": "按您近期的用电，约可用 {days} 天",
    "days_left_none": "近期没有用电记录",
    "days_left_zero": "余额已用完，请尽快缴费",
    "pay": "缴费",
    "read_only": "您以家人身份查看（只读）",
    "yesterday": "昨日",
    "this_month": "本月",
    "this_year": "本年度",
    "no_day": "暂无数据",
    "kwh_fen": "{kwh} 千瓦时 · {yuan} 元",
    "chart_title": "每日用电",
    "days_choice": "{days}天",
    "estimated": "估算",
    "register_sharp": "尖峰",
    "register_peak": "高峰",
    "register_flat": "平段",
    "register_valley": "低谷",
    "estimated_note": "带斜线的柱为估算用电（电表当日未抄到），抄到后会自动更正。",
    "tier_title": "阶梯位置",
    "tier_sentence": "本年度已用 {ytd} / {to} 千瓦时（第{tier}档）——下一度电 {price} 元。",
    "tier_sentence_last": (
        "本年度已用 {ytd} 千瓦时，处于第{tier}档（最高档）——下一度电 {price} 元。"
    ),
    "tier_forecast": "按您的用电速度，约 {date} 进入第{next}档。",
    "tier_forecast_none": "按您的用电速度，今年不会进入第{next}档。",
    "tier_tou": "（平段电价）",
    "supply_title": "供电状态",
    "state_normal": "正常供电。",
    "state_warned": "余额不多了，请尽快缴费。",
    "state_arrears": "余额已用完，请于 {pay_by} 前缴费，否则可能停电。",
    "state_arrears_cut": "最早可能于 {cut_at} 停电。",
    "state_disconnecting": "即将停电；现在缴费即可取消。",
    "state_disconnected": "已停电。缴费后将自动恢复供电。",
    "state_reconnecting": "已收到缴费，正在恢复供电。",
    "supply_on": "电表：通电",
    "supply_off": "电表：断电",
    "last_decision": "最近一次处理（{at}）：",
    "payments_title": "缴费与退款",
    "messages_title": "收到的短信",
    "nothing": "暂无记录",
    "kind_payment": "缴费",
    "kind_refund": "退款",
    "kind_reversal": "冲正",
    "statements_title": "月度账单",
    "statement_of": "{month} 账单",
    "download_csv": "下载 CSV",
    "opening": "期初余额",
    "closing": "期末余额",
    "energy": "用电量",
    "date": "日期",
    "item": "项目",
    "amount": "金额（元）",
    "running": "余额（元）",
    "settings_title": "设置",
    "trusted_title": "家人查看权限",
    "trusted_intro": "您可以允许登记的家人用他们的手机登录，只读查看本账户。",
    "trusted_none": "没有登记的家人联系人。请到营业厅登记。",
    "allow": "允许查看",
    "revoke": "取消权限",
    "has_access": "可查看",
    "no_access": "不可查看",
    "error": "出错了",
    "back_home": "返回首页",
    "err_invalid_input": "输入有误，请检查后重试。",
    "err_not_found": "没有找到该户号，请核对。",
    "err_not_signed_in": "验证码不正确、已过期或已使用，请重新获取。",
    "err_forbidden": "没有权限：请重新打开页面，或请户主开通家人查看权限。",
    "err_rate_limited": "请求过于频繁，请稍后再试。",
    "err_refused": "无法办理：请拨打客服热线或到营业厅咨询。",
    "err_conflict": "无法办理：请稍后再试。",
}

EN: dict[str, str] = {
    "title": "My electricity account",
    "lang_switch": "中文",
    "large_on": "Large type",
    "large_off": "Normal type",
    "nav_home": "Home",
    "nav_activity": "Payments & messages",
    "nav_statements": "Statements",
    "nav_settings": "Settings",
    "sign_out": "Sign out",
    "sign_out_everywhere": "Sign out everywhere",
    "signin_title": "Sign in",
    "signin_intro": "Enter your account number; we will send you a code by SMS.",
    "account_no": "Account number (10 digits)",
    "contact_phone": "Family member: your mobile number (leave empty if the account is yours)",
    "send_code": "Send code",
    "code_title": "Enter your code",
    "code_sent_to": "We sent a code to {phone}; it is valid for {minutes} minutes.",
    "code": "Code (6 digits)",
    "sign_in": "Sign in",
    "ask_again": "Send a new code",
    "balance": "Balance",
    "yuan": "yuan",
    "days_left": "About {days} days at your recent pace",
    "days_left_none": "No recent use",
    "days_left_zero": "Your balance is used up: please pay soon",
    "pay": "Pay",
    "read_only": "You are viewing as a family member (read-only)",
    "yesterday": "Yesterday",
    "this_month": "This month",
    "this_year": "This tier year",
    "no_day": "No data yet",
    "kwh_fen": "{kwh} kWh · {yuan} yuan",
    "chart_title": "Daily use",
    "days_choice": "{days} days",
    "estimated": "estimated",
    "register_sharp": "sharp",
    "register_peak": "peak",
    "register_flat": "flat",
    "register_valley": "valley",
    "estimated_note": (
        "Hatched bars are estimated days (the meter was not read); they are corrected once it is."
    ),
    "tier_title": "Tier position",
    "tier_sentence": "{ytd} of {to} kWh in tier {tier} — the next kWh costs {price} yuan.",
    "tier_sentence_last": (
        "{ytd} kWh this year, in tier {tier} (the top tier) — the next kWh costs {price} yuan."
    ),
    "tier_forecast": "At your pace tier {next} starts around {date}.",
    "tier_forecast_none": "At your pace tier {next} will not start this year.",
    "tier_tou": " (flat-period price)",
    "supply_title": "Supply",
    "state_normal": "Supply is on.",
    "state_warned": "Your balance is running low: please pay soon.",
    "state_arrears": "Your balance is used up: please pay by {pay_by}, or supply may be cut off.",
    "state_arrears_cut": "The earliest a cut could happen is {cut_at}.",
    "state_disconnecting": "A cut is about to happen; paying now cancels it.",
    "state_disconnected": "Supply is cut off. Once you pay it is restored automatically.",
    "state_reconnecting": "Your payment arrived: supply is being restored.",
    "supply_on": "Meter: on",
    "supply_off": "Meter: off",
    "last_decision": "Latest decision ({at}):",
    "payments_title": "Payments and refunds",
    "messages_title": "Messages received",
    "nothing": "Nothing yet",
    "kind_payment": "Payment",
    "kind_refund": "Refund",
    "kind_reversal": "Reversal",
    "statements_title": "Monthly statements",
    "statement_of": "Statement for {month}",
    "download_csv": "Download CSV",
    "opening": "Opening balance",
    "closing": "Closing balance",
    "energy": "Energy",
    "date": "Date",
    "item": "Item",
    "amount": "Amount (yuan)",
    "running": "Balance (yuan)",
    "settings_title": "Settings",
    "trusted_title": "Family access",
    "trusted_intro": (
        "You can let a registered family contact sign in with their phone and read this account."
    ),
    "trusted_none": "No family contact is registered. Register one at the office.",
    "allow": "Allow",
    "revoke": "Take back",
    "has_access": "can read",
    "no_access": "cannot read",
    "error": "Something went wrong",
    "back_home": "Back to home",
    "err_invalid_input": "Please check what you typed.",
    "err_not_found": "No such account: please check the number.",
    "err_not_signed_in": "Please sign in.",
    "err_forbidden": "Not allowed.",
    "err_rate_limited": "Too many tries: please wait a while.",
    "err_refused": "This cannot be done here: please call the hotline or visit the office.",
    "err_conflict": "This cannot be done now: please try later.",
}

assert set(ZH) == set(EN), set(ZH) ^ set(EN)
TEXTS = {"zh": ZH, "en": EN}


class Words:
    """The words and formats of one language, for the templates."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else "zh"
        self._texts = TEXTS[self.language]

    def __call__(self, key: str, **values: object) -> str:
        text = self._texts[key]
        return text.format(**values) if values else text

    def day(self, day: dt.date) -> str:
        if self.language == "zh":
            return f"{day.month}月{day.day}日"
        return f"{day.day} {_MONTHS_EN[day.month - 1]}"

    def short_day(self, day: dt.date) -> str:
        return f"{day.month}/{day.day}" if self.language == "zh" else f"{day.day}/{day.month}"

    def instant(self, at: dt.datetime) -> str:
        if self.language == "zh":
            return f"{self.day(at.date())} {at:%H:%M}"
        return f"{at:%H:%M} on {self.day(at.date())}"

    @staticmethod
    def yuan(amount_fen: int) -> str:
        return format_fen(amount_fen)

    @staticmethod
    def kwh(energy_wh: int) -> str:
        return format_kwh(energy_wh)

    @staticmethod
    def whole_kwh(energy_wh: int) -> str:
        """Whole kWh with thousands separators: '1,870' (tier sentences)."""
        return f"{energy_wh // 1000:,}"

    @staticmethod
    def price(price_uyuan_per_kwh: int) -> str:
        """Yuan per kWh as a household reads it: 0.56, 0.61 (more decimals only if needed)."""
        text = format_price(price_uyuan_per_kwh).rstrip("0")
        whole, _, frac = text.partition(".")
        return f"{whole}.{frac.ljust(2, '0')}"
