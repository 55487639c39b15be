"""A file email backend that takes its time, so a test can kill a worker mid-batch."""

import os
import time

from django.core.mail.backends.filebased import EmailBackend as FileBackend


class EmailBackend(FileBackend):
    def send_messages(self, email_messages):
        time.sleep(float(os.environ.get("SLOW_EMAIL_SECONDS", "0.3")))
        return super().send_messages(email_messages)
