complete --keep-order --exclusive --command mailferry --arguments "(MAILFERRY_COMPLETE=fish mailferry -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
