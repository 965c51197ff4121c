"""``python -m clickstream.app.local.run_pipeline [--max_runtime_s N] [--idle_stop_s N] BEAM_OPTIONS``.

The process entry of a local streaming run (``PipelineProcess`` starts it). The logic lives in
``runner``, imported by name, so that the functions Beam pickles refer to that module and not
to a copy of ``__main__``.
"""

from clickstream.app.local.runner import main

if __name__ == "__main__":
    main()
