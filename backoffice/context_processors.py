from django.conf import settings


def business(request):
    return {"CURRENCY": settings.CURRENCY}
