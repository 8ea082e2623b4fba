"""Files as the tools read and write them: one-line errors naming the file, one run per folder.

:mod:`.errors`: an input that is not a file, a write that failed, each naming the file;
:mod:`.save_dir`: a lock holding an output folder for the length of a run, and an
earlier run's files moved aside. Every layer of the plugin writes files, so this sits
below them all and imports nothing of the plugin.
"""
