"""The asyncio runtime: carries out what the pure venue protocols ask for."""
