"""gridpay: smart prepaid electricity payment ("charge first, then use")."""

__version__ = "0.1.0"
