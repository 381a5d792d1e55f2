#!/usr/bin/perl
# mysql-prepared capture: DBD::MariaDB with server-side prepared statements (COM_STMT_PREPARE/EXECUTE/CLOSE).
use strict;
use warnings;
use DBI;
my ($host) = @ARGV;
my $dbh = DBI->connect("DBI:MariaDB:database=shop;host=$host;port=3306;mariadb_server_prepare=1",
    'alice', 'Wonderland1', { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
my $ins = $dbh->prepare('INSERT INTO orders (id, customer, total, placed) VALUES (?, ?, ?, ?)');
$ins->execute(10, 'mallory', 42.5, '2024-05-06');
$ins->execute(11, undef, 7, '2024-05-07');
my $sel = $dbh->prepare('SELECT id, customer FROM orders WHERE total > ? ORDER BY id');
$sel->execute(10);
my $n = 0;
while (my $row = $sel->fetchrow_arrayref) { $n++ }
print "selected $n rows\n";
my $del = $dbh->prepare('DELETE FROM orders WHERE id = ?');
$del->execute(11);
print "deleted ", $del->rows, " row\n";
$dbh->disconnect;
