"""Running external programs, and a read-ahead helper.

``process``
    Every external program (WSClean, CASA helpers) in its own process group
    with the parent-death signal, its group recorded on the job so
    ``recover()`` can kill an orphan.
``casa``
    CASA tasks offline, each in its own process (cross-checks of our tables and MS).
``prefetch``
    Produce items in a thread ahead of their consumer.
"""
