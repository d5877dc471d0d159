"""Project tools that build NodeStudio's assets; not part of the installed package."""
