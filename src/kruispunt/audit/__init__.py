"""The tamper-evident log of every exchange through the hub, its verification and the citizen's view.

Why a package of its own: the log is kept ≥ 10 years in its own database (component ``audit``), is written
by exactly one process (the hub) through :class:`kruispunt.audit.service.AuditWriter`, and is read by
``kruispunt audit verify`` and the "who consulted my data" API without touching any other package's tables.
"""
