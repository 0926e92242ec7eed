"""The tamper-evident log of every exchange through the hub, its verification and the citizen's view.

Why a package of its own: the log is kept ≥ 10 years in its own database (component ``audit``), is written
by the hub's worker processes — each through its own :class:`kruispunt.audit.service.AuditWriter` on its
own chain — and is read by ``kruispunt audit verify`` and the "who consulted my data" API without touching
any other package's tables.
"""
