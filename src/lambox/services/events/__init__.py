"""EventBridge: buses, rules and the outbox in SQLite (``store``), rules compiled and indexed
(``rules``), the operations (``service``), what targets receive (``targets``), scheduled
rules as the ticker's timetable (``schedule``) and the json-protocol app (``app``)."""
