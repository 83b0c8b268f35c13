"""Reports, comparisons and leaderboards over run folders of any task.

``runs`` reads and lines up run folders; ``stats`` holds the pure-numpy bootstrap and
randomisation test; ``compare``, ``leaderboard`` and ``html`` build what the ``inquire compare``,
``inquire leaderboard`` and ``inquire report`` commands show.
"""
