"""The chaos soak: every venue simulated, a supervised gateway, Redis and followers, under a
random fault schedule; at the end, the account of every trade and book (``bench/soak.py``)."""
