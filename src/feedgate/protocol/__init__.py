"""The pure layer: venue-independent protocol machinery. No I/O, no clocks, no asyncio here."""
