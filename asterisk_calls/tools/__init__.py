from . import numbers, tracker
