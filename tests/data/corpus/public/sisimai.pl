use strict; use Sisimai;
for my $f (@ARGV) {
  my $v = eval { Sisimai->make($f, 'delivered' => 1, 'vacation' => 1) };
  if (!$v || !@$v) { print "$f\tNONE\t\t\t\n"; next; }
  my $d = $v->[0];
  printf "%s\t%s\t%s\t%s\t%s\n", $f, $d->reason, ($d->softbounce == 0 ? "true" : ($d->softbounce == 1 ? "false" : "unknown")), $d->deliverystatus, $d->smtpagent;
}
