"""A file email backend that takes its time after the message is written, as a mail server
that has accepted a message and is slow to answer: a worker killed then has sent a message
it has not recorded."""

import os
import time

from django.core.mail.backends.filebased import EmailBackend as FileBackend


class EmailBackend(FileBackend):
    def send_messages(self, email_messages):
        sent = super().send_messages(email_messages)
        time.sleep(float(os.environ.get("SLOW_EMAIL_SECONDS", "0.3")))
        return sent
