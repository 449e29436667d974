"""The library under the commands, by concern: :mod:`.query` (choose backends, ask them all at
once), :mod:`.views` (one store seen by several tools), :mod:`.listing`, :mod:`.storage`,
:mod:`.routing` and :mod:`.copying`. Each imports only the ones before it in this list.

Data flows one way: command -> core -> adapters (one thread per backend) -> records -> command -> output.
"""
