"""Log filters: nothing personal in log files (security.md "Web"; issue 9: an erasure must leave no trace in them,
and a log line cannot be erased afterwards).

django-q2 logs a failed task as "Failed '<func>' (<name>) - <error text and traceback>". The error text is whatever
the exception said, and a library's message can quote an e-mail address or a file name. The failure stays in
django-q2's task table (which the erasure cascade scrubs); the log line keeps only which task failed.
"""

from __future__ import annotations

import logging

WITHHELD = "(error text withheld from the log: it may quote personal data; see the task's failure record)"


class TaskResultsWithheld(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Failed '") and " - " in message:
            record.msg, record.args = f"{message.split(' - ', 1)[0]} - {WITHHELD}", None
        return True
