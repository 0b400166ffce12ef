import CLI
import Glibc

exit(Berth.main(CommandLine.arguments))
