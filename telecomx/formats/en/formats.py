"""Dates and times as the admin shows them: to the second, with the time zone (times in logs,
the API and the admin then read alike; Django's English default drops the seconds and the zone)."""

DATETIME_FORMAT = "Y-m-d H:i:s T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
