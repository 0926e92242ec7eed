"""Automatic communication of changes: a source publishes a change about a person; the network delivers it
to every institution that integrated the person in a capacity subscribed to that change, at least once,
exactly once as applied by the recipient, in order per person."""

SERVICE = "mutations"
