"""ddb: the command line, command files and interactive shell over vosfmt."""
__version__ = "0.1.0"
