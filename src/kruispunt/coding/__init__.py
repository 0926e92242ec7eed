"""The warehouse's trusted third party: every INSZ becomes a per-project code before data reach the
warehouse; decoding only under an approval, always logged."""
