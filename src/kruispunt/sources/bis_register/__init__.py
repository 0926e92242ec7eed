"""The KSZ bis register as an authentic source: people without a national-register number, identified by a
bis number (month + 20 when the sex is unknown, + 40 when known); component ``bis_register``."""
