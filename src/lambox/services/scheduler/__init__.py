"""EventBridge Scheduler: schedule groups and schedules in SQLite (``store``), the
operations (``service``), schedules as the ticker's timetable (``timetable``) and the
rest-json app (``app``)."""
