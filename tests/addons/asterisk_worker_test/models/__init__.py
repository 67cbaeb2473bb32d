from . import agent, record
