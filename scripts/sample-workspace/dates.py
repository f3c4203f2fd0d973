"""A few date helpers to try ClarifyCoder on: select some lines, then "ClarifyCoder: Ask about Selection"."""
from datetime import date


def days_between(a, b):
    return abs((b - a).days)


def is_weekend(day):
    return day.weekday() >= 5


def next_monday(day):
    ...
