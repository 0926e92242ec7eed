"""The social-security institutions as authentic sources (component ``social``), each its own service.

What each service holds and serves is data (``data/sources.yaml``, read by :mod:`.definitions`); one generic
implementation answers every message type (:mod:`.service`, :mod:`.api`). Primary sources (RSZ, RVA, DG HAN,
FPD, FEDRIS, the child-benefit funds) have one database each; the members of a secondary network (the
mutualities, the OCMWs) are hosted by one process with a database per member, reached through their
managing institution (NIC, POD MI), which keeps the member directory and forwards over HTTP.
"""

SERVICES: tuple[str, ...] = (
    "rsz",
    "rva",
    "nic",
    "mutualities",
    "pod_mi",
    "ocmws",
    "han",
    "fpd",
    "child_benefit",
    "fedris",
)
"""The service names of ``data/sources.yaml`` (a constant so the CLI need not read the file to list them)."""
