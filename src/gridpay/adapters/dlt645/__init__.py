"""DL/T 645-2007, the Chinese meter protocol: a pure codec (``codec``, ``stream``), the payload
security port (``security``) and the head-end that talks to meters over TCP (``head_end``)."""
