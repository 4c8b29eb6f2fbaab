"""Set-up commands: init, tariffs."""

from __future__ import annotations

import typer

from gridpay.adapters.tariff_files import shipped_tariffs, tariff_from_file
from gridpay.domain.money import format_price
from gridpay.entrypoints.cli._common import app, console, gridpay_app, print_json
from gridpay.services import setup

tariffs_app = typer.Typer(
    help="Tariffs: versioned data files with effective dates.", no_args_is_help=True
)
app.add_typer(tariffs_app, name="tariffs")


@app.command()
def init() -> None:
    """Create or migrate the database and load the shipped tariffs and offices."""
    with gridpay_app(database="create") as g:
        report = setup.initialize(g.store, g.clock, g.settings.offices, shipped_tariffs())
        console.print(
            f"database ready ({g.store.dialect}); {report.offices} offices; "
            f"tariffs added: {', '.join(report.tariffs_added) or 'none'}"
        )


@tariffs_app.command("load")
def tariffs_load(path: str = typer.Argument(..., help="A tariff TOML file.")) -> None:
    """Add a tariff version from a data file (a new tariff is data, not code)."""
    tariff, text = tariff_from_file(path)
    with gridpay_app() as g:
        added = setup.load_tariff(g.store, g.clock, tariff, text)
    console.print(
        f"tariff {tariff.code} from {tariff.effective_from}: "
        + ("added" if added else "already loaded (unchanged)")
    )


@tariffs_app.command("list")
def tariffs_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the tariff versions in the database."""
    with gridpay_app() as g, g.store.unit_of_work() as uow:
        tariffs = uow.registry.tariffs()
    rows = [
        {
            "code": t.code,
            "effective_from": t.effective_from.isoformat(),
            "name": t.name,
            "prices_yuan_per_kwh": {k: format_price(v) for k, v in t.prices_uyuan_per_kwh.items()},
            "bands": [
                {
                    "from_kwh": b.from_wh / 1000,
                    "to_kwh": None if b.to_wh is None else b.to_wh / 1000,
                    "surcharge_yuan": format_price(b.surcharge_uyuan_per_kwh),
                }
                for b in t.bands
            ],
        }
        for t in tariffs
    ]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(f"[bold]{r['code']}[/] from {r['effective_from']}: {r['name']}")
