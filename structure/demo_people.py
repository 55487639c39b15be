"""The demo's people: names, phones, e-mails and messenger handles that look like India's
and Nepal's, the reasons admins write for holds and restores, and the notes participants
write in the contact log."""

from __future__ import annotations

import random

from installments import rules

HOLD_REASONS = (
    "In hospital after an accident; his son asked for time until discharge.",
    "Crop lost in the monsoon floods; harvest money from the second field expected next month.",
    "Salary held back three months by the garment factory; HR letter seen by the participant.",
    "Working in Qatar; the remittance agent in his village is closed until after Eid.",
    "Bank account frozen for KYC re-verification; the branch says two weeks.",
    "Daughter's wedding this month; promised to clear both installments right after.",
)
RESTORE_REASONS = (
    "Client was in hospital when the deadline passed; the participant confirmed it with the "
    f"family. Fresh {rules.GRACE_DAYS}-day window agreed.",
    "Transfer went to the old bank account and bounced; the bank confirmed the date it was sent.",
)


# What participants write in the contact log, by outcome (a promise's date and amount are
# fields of their own).
CONTACT_NOTES = {
    "reached": (
        "Spoke to them; the transfer goes from a brother's account this week.",
        "Reminded them of the deadline and what is lost after it; paying from the salary.",
        "Explained the two thirds of the shares at stake; will talk it over at home tonight.",
        "Said the bank app was down; sent the account details again by WhatsApp.",
        "Reached at the shop; asked for the amount in writing, sent by SMS.",
    ),
    "no_answer": (
        "Rang twice, no answer. Left a WhatsApp message.",
        "Phone switched off; will try again in the evening.",
        "No answer; SMS with the amount and the deadline sent.",
        "Busy all morning; left a voice message.",
    ),
    "promised": (
        "Salary is late this month; will pay the installment the day it comes.",
        "Harvest money due from the mandi; promised to transfer straight away.",
        "Will send it through the remittance agent.",
        "Promised to pay at the bank branch after the holiday.",
        "A son in Dubai is sending money; will pay as soon as it arrives.",
    ),
    "cannot_pay": (
        "Lost the job at the garment factory; asked whether the plan can be put on hold.",
        "In hospital; the family says nothing can be paid before the discharge.",
        "Shop closed since the floods; can pay part next month, not the whole installment.",
        "Wedding expenses this month; asked what happens to the shares if the plan is cancelled.",
    ),
    "wrong_number": (
        "Number belongs to someone else now; asked the sponsor for the new one.",
        "Number not in service; sent an e-mail instead.",
    ),
}
# After a broken promise: (outcome, note).
FOLLOW_UPS = (
    ("reached", "The promised day passed; says the money is stuck with the remittance agent."),
    ("reached", "Reached after the promised day: still waiting for the salary."),
    ("no_answer", "Promised day passed without the money; no answer since."),
    ("cannot_pay", "After the promised day: the buyer for the land backed out, cannot pay now."),
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


NAMES = {
    "IN": (
        _words(
            "Aarav Aditi Akash Amit Ananya Anil Anjali Arun Deepa Deepak Divya Gaurav Geeta "
            "Harish Ishaan Kavita Kiran Lakshmi Manish Meena Mohan Neha Nikhil Pooja Rahul "
            "Rajesh Ramesh Ritu Rohit Sanjay Sapna Shreya Sunil Sunita Suresh Swati Tanvi Usha "
            "Varun Vikram Yash"
        ),
        _words(
            "Agarwal Bansal Bhatt Chauhan Chopra Desai Dubey Gupta Iyer Jain Joshi Kapoor Khan "
            "Kulkarni Kumar Malhotra Mehta Mishra Nair Pandey Patel Rao Reddy Saxena Sharma "
            "Singh Srivastava Tiwari Verma Yadav"
        ),
    ),
    "NP": (
        _words(
            "Aashish Anita Bikash Bimala Binod Dipesh Gita Hari Kamala Krishna Laxmi Manisha "
            "Nabin Niraj Pramila Prakash Rabin Sabina Sagar Samjhana Santosh Saraswati Suman "
            "Sushila Ujjwal"
        ),
        _words(
            "Acharya Adhikari Basnet Bhattarai Dahal Ghimire Gurung Karki Khadka Koirala Lama "
            "Limbu Magar Maharjan Poudel Rai Shrestha Subedi Tamang Thapa"
        ),
    ),
}
# (country code, mobile prefixes, digits after the prefix): Jio/Airtel/Vi in India; NTC
# (984–986) and Ncell (980–982) in Nepal.
MOBILE = {
    "IN": ("+91", ("98", "99", "97", "96", "94", "93", "90", "88", "87", "70", "81", "63"), 8),
    "NP": ("+977", ("984", "985", "986", "980", "981", "982"), 7),
}
LANGUAGES = {"IN": (("hi", 55), ("en", 45)), "NP": (("ne", 65), ("en", 25), ("hi", 10))}
# Reserved example domains: a demo reminder must never reach a real mailbox.
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")


class Contacts:
    """Names, phones, e-mails and messenger handles that look like the region's; phones and
    e-mails unique."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.taken: set[str] = set()

    def person(self, country: str, name: str = "") -> dict[str, str]:
        rng = self.rng
        first_names, last_names = NAMES[country]
        name = name or f"{rng.choice(first_names)} {rng.choice(last_names)}"
        first, last = name.lower().split(" ", 1)
        code, prefixes, length = MOBILE[country]
        phone = ""
        while not phone or phone in self.taken:
            digits = rng.choice(prefixes) + f"{rng.randrange(10**length):0{length}d}"
            # Written the way people write them: +91 98123 45678, +977 9841234567.
            phone = f"{code} {digits[:5]} {digits[5:]}" if code == "+91" else f"{code} {digits}"
        whatsapp = phone.replace(" ", "")
        email = ""
        if rng.random() < 0.75:
            local = rng.choice((f"{first}.{last}", f"{first}{last[0]}", f"{last}.{first}"))
            domain = rng.choice(EMAIL_DOMAINS)
            email = f"{local}{rng.choice(('', str(rng.randint(1, 99))))}@{domain}"
            while email in self.taken:
                email = f"{local}{rng.randint(100, 999)}@{domain}"
        self.taken |= {phone, email}
        channel = rng.random()
        messenger = whatsapp if channel < 0.4 else f"@{first}_{last}" if channel < 0.55 else ""
        languages, weights = zip(*LANGUAGES[country], strict=True)
        return {
            "name": name,
            "phone": phone,
            "email": email,
            "messenger": messenger,
            "language": rng.choices(languages, weights)[0],
        }
