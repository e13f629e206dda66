"""exchanges.md §7.1 example frames, verbatim (as the binary frames the source sends)."""

from __future__ import annotations

WELCOME_OLD = (
    b'{"type":"welcome","tier":"premium","maxConnections":5,"allowedCex":"*",'
    b'"expiresInSecs":2592000}'
)
WELCOME_NEW = (
    b'{"type":"welcome","tier":"premium","maxDistinctIps":2,"maxConnectionsPerIp":5,'
    b'"absoluteMaxConnections":20,"allowedCex":"*","expiresInSecs":2592000}'
)
ANNOUNCEMENT_OLD = b"""{"type": "announcement", "title": "Binance Will List ABC, DEF and GHI", "ticker": "ABC,DEF,GHI",
 "publisher": "binance", "listingType": "spot_listing",
 "publishTimestampUs": 1710345000000000, "detectedTimestampUs": 1710345000005000,
 "dispatchTimestampUs": 1710345000006000}"""  # noqa: E501
ANNOUNCEMENT_NEW = b"""{"type": "announcement", "title": "Binance Will List TOKEN (TOKEN)", "ticker": "TOKEN",
 "publisher": "binance", "listingType": "spot_listing",
 "detectedTimestampUs": 1710345000005000, "dispatchTimestampUs": 1710345000006000,
 "abnormalDetectionLatency": false}"""  # noqa: E501
