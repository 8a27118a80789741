"""wirecheck: can this Azure VM talk to the platform address 168.63.129.16, and if not, why?"""

__version__ = "0.1.0"
