import CLI
import Glibc

// A daemon that closes the connection (a TLS server refusing our certificate after the
// handshake, a daemon going away) must give an error message, not kill the CLI with SIGPIPE.
signal(SIGPIPE, SIG_IGN)
exit(Berth.main(CommandLine.arguments))
