from callnotify import event_admin  # noqa: F401,E402  (call events and deliveries; keep last: it extends CallNotifyAdmin)
