# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mailferry_global_optspecs
    string join \n c/config= q/quiet v/verbose h/help V/version
end

function __fish_mailferry_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mailferry_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mailferry_using_subcommand
    set -l cmd (__fish_mailferry_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mailferry -n "__fish_mailferry_needs_command" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_needs_command" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_needs_command" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailferry -n "__fish_mailferry_needs_command" -s V -l version -d 'Print version'
complete -c mailferry -n "__fish_mailferry_needs_command" -f -a "sync" -d 'Syncs channels: new messages, flags and deletions, both ways'
complete -c mailferry -n "__fish_mailferry_needs_command" -f -a "adopt" -d 'Pairs the messages a Maildir already holds with the server\'s, so the first sync copies nothing both sides have'
complete -c mailferry -n "__fish_mailferry_needs_command" -f -a "list" -d 'Lists the folders of a store: mailferry\'s name for each (the local name), its message count, its special-use role, and the server\'s own spelling where it differs'
complete -c mailferry -n "__fish_mailferry_needs_command" -f -a "check" -d 'Checks the configuration and tries to reach every store'
complete -c mailferry -n "__fish_mailferry_needs_command" -f -a "migrate" -d 'Copies every message of one store into another, once: moving a POP3 account onto an IMAP server is the main case'
complete -c mailferry -n "__fish_mailferry_needs_command" -f -a "dedupe" -d 'Finds messages held more than once in a folder and, with --apply, removes all copies but one'
complete -c mailferry -n "__fish_mailferry_needs_command" -f -a "generate" -d 'Writes man pages or shell completions into a directory'
complete -c mailferry -n "__fish_mailferry_needs_command" -f -a "search" -d 'Searches the folders of a store, on the server for IMAP stores'
complete -c mailferry -n "__fish_mailferry_needs_command" -f -a "watch" -d 'Syncs channels, then keeps them in step as changes happen'
complete -c mailferry -n "__fish_mailferry_needs_command" -f -a "import-mbsyncrc" -d 'Converts an mbsync configuration (~/.mbsyncrc) into mailferry\'s YAML'
complete -c mailferry -n "__fish_mailferry_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailferry -n "__fish_mailferry_using_subcommand sync" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand sync" -s a -l all -d 'Sync every channel of the configuration'
complete -c mailferry -n "__fish_mailferry_using_subcommand sync" -s n -l dry-run -d 'Show what would be done and change nothing'
complete -c mailferry -n "__fish_mailferry_using_subcommand sync" -l json -d 'Print what was done (or, with --dry-run, the plan) as JSON on stdout'
complete -c mailferry -n "__fish_mailferry_using_subcommand sync" -l force -d 'Carry out plans that delete more than max_delete_ratio of a folder'
complete -c mailferry -n "__fish_mailferry_using_subcommand sync" -l wait -d 'Wait for another run holding a channel\'s lock instead of exiting with status 3'
complete -c mailferry -n "__fish_mailferry_using_subcommand sync" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_using_subcommand sync" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_using_subcommand sync" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailferry -n "__fish_mailferry_using_subcommand adopt" -l from-mbsync -d 'Read mbsync\'s state: the Maildir root with `.mbsyncstate` in each folder (SyncState *), or mbsync\'s SyncState directory' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand adopt" -l from-offlineimap -d 'Read OfflineIMAP\'s plain-text status: the account\'s metadata directory, e.g. ~/.offlineimap/Account-NAME' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand adopt" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand adopt" -s n -l dry-run -d 'Show what would be paired and write nothing'
complete -c mailferry -n "__fish_mailferry_using_subcommand adopt" -l json -d 'Print what was found as JSON on stdout'
complete -c mailferry -n "__fish_mailferry_using_subcommand adopt" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_using_subcommand adopt" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_using_subcommand adopt" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailferry -n "__fish_mailferry_using_subcommand list" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand list" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_using_subcommand list" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailferry -n "__fish_mailferry_using_subcommand check" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand check" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_using_subcommand check" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailferry -n "__fish_mailferry_using_subcommand migrate" -l folder -d 'The source folder to copy (default INBOX)' -r
complete -c mailferry -n "__fish_mailferry_using_subcommand migrate" -l max-size -d 'Do not copy messages larger than SIZE (bytes, or e.g. 512k, 20M)' -r
complete -c mailferry -n "__fish_mailferry_using_subcommand migrate" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand migrate" -l all-folders -d 'Copy every folder of the source, each into the folder of the same name'
complete -c mailferry -n "__fish_mailferry_using_subcommand migrate" -l delete-source -d 'Afterwards delete from the source the messages whose copy is recorded and present on the target'
complete -c mailferry -n "__fish_mailferry_using_subcommand migrate" -s n -l dry-run -d 'List what would be copied and change nothing'
complete -c mailferry -n "__fish_mailferry_using_subcommand migrate" -l json -d 'Print the result as JSON on stdout'
complete -c mailferry -n "__fish_mailferry_using_subcommand migrate" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_using_subcommand migrate" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_using_subcommand migrate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailferry -n "__fish_mailferry_using_subcommand dedupe" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand dedupe" -l apply -d 'Remove the extra copies (default: only report them)'
complete -c mailferry -n "__fish_mailferry_using_subcommand dedupe" -l json -d 'Print the result as JSON on stdout'
complete -c mailferry -n "__fish_mailferry_using_subcommand dedupe" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_using_subcommand dedupe" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_using_subcommand dedupe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -f -a "man" -d 'Man pages: mailferry.1, one page per subcommand (mailferry-sync.1, ...) and the configuration file\'s, mailferry.yaml.5'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -f -a "completions" -d 'Completions for bash, zsh and fish'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and not __fish_seen_subcommand_from man completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and __fish_seen_subcommand_from man" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and __fish_seen_subcommand_from man" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and __fish_seen_subcommand_from man" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and __fish_seen_subcommand_from man" -s h -l help -d 'Print help'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and __fish_seen_subcommand_from completions" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and __fish_seen_subcommand_from completions" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and __fish_seen_subcommand_from completions" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and __fish_seen_subcommand_from completions" -s h -l help -d 'Print help'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "man" -d 'Man pages: mailferry.1, one page per subcommand (mailferry-sync.1, ...) and the configuration file\'s, mailferry.yaml.5'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "completions" -d 'Completions for bash, zsh and fish'
complete -c mailferry -n "__fish_mailferry_using_subcommand generate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailferry -n "__fish_mailferry_using_subcommand search" -l fetch -d 'Also copy the matching messages into a Maildir at DIR (created if missing; one subdirectory per folder, e.g. DIR/INBOX/cur)' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand search" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand search" -l json -d 'Print the matches as a JSON array'
complete -c mailferry -n "__fish_mailferry_using_subcommand search" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_using_subcommand search" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_using_subcommand search" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailferry -n "__fish_mailferry_using_subcommand watch" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand watch" -l wait -d 'Wait for another run holding a channel\'s lock instead of exiting with status 3'
complete -c mailferry -n "__fish_mailferry_using_subcommand watch" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_using_subcommand watch" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailferry -n "__fish_mailferry_using_subcommand import-mbsyncrc" -s c -l config -d 'Configuration file to read instead of the default locations' -r -F
complete -c mailferry -n "__fish_mailferry_using_subcommand import-mbsyncrc" -l copy-passwords -d 'Copy passwords written in the file (Pass) into the output, instead of a password_env placeholder'
complete -c mailferry -n "__fish_mailferry_using_subcommand import-mbsyncrc" -s q -l quiet -d 'Print nothing but errors'
complete -c mailferry -n "__fish_mailferry_using_subcommand import-mbsyncrc" -s v -l verbose -d 'Say more about what is done; twice for protocol-level detail'
complete -c mailferry -n "__fish_mailferry_using_subcommand import-mbsyncrc" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and not __fish_seen_subcommand_from sync adopt list check migrate dedupe generate search watch import-mbsyncrc help" -f -a "sync" -d 'Syncs channels: new messages, flags and deletions, both ways'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and not __fish_seen_subcommand_from sync adopt list check migrate dedupe generate search watch import-mbsyncrc help" -f -a "adopt" -d 'Pairs the messages a Maildir already holds with the server\'s, so the first sync copies nothing both sides have'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and not __fish_seen_subcommand_from sync adopt list check migrate dedupe generate search watch import-mbsyncrc help" -f -a "list" -d 'Lists the folders of a store: mailferry\'s name for each (the local name), its message count, its special-use role, and the server\'s own spelling where it differs'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and not __fish_seen_subcommand_from sync adopt list check migrate dedupe generate search watch import-mbsyncrc help" -f -a "check" -d 'Checks the configuration and tries to reach every store'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and not __fish_seen_subcommand_from sync adopt list check migrate dedupe generate search watch import-mbsyncrc help" -f -a "migrate" -d 'Copies every message of one store into another, once: moving a POP3 account onto an IMAP server is the main case'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and not __fish_seen_subcommand_from sync adopt list check migrate dedupe generate search watch import-mbsyncrc help" -f -a "dedupe" -d 'Finds messages held more than once in a folder and, with --apply, removes all copies but one'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and not __fish_seen_subcommand_from sync adopt list check migrate dedupe generate search watch import-mbsyncrc help" -f -a "generate" -d 'Writes man pages or shell completions into a directory'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and not __fish_seen_subcommand_from sync adopt list check migrate dedupe generate search watch import-mbsyncrc help" -f -a "search" -d 'Searches the folders of a store, on the server for IMAP stores'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and not __fish_seen_subcommand_from sync adopt list check migrate dedupe generate search watch import-mbsyncrc help" -f -a "watch" -d 'Syncs channels, then keeps them in step as changes happen'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and not __fish_seen_subcommand_from sync adopt list check migrate dedupe generate search watch import-mbsyncrc help" -f -a "import-mbsyncrc" -d 'Converts an mbsync configuration (~/.mbsyncrc) into mailferry\'s YAML'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and not __fish_seen_subcommand_from sync adopt list check migrate dedupe generate search watch import-mbsyncrc help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "man" -d 'Man pages: mailferry.1, one page per subcommand (mailferry-sync.1, ...) and the configuration file\'s, mailferry.yaml.5'
complete -c mailferry -n "__fish_mailferry_using_subcommand help; and __fish_seen_subcommand_from generate" -f -a "completions" -d 'Completions for bash, zsh and fish'
