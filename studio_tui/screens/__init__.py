"""Full screens of the studio: the runs list, one run, and the help overlay."""
