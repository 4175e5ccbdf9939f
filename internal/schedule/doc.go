// Package schedule computes when periodic jobs tick: the times of a
// schedule written as an interval ("every") or as a cron expression, which
// of them are due after kilnd has been down, and the job ID of each tick.
//
// # every
//
// An interval is a Go duration of at least one second, in whole seconds
// ("90s", "15m", "2h"). Its ticks are the multiples of the interval since
// the Unix epoch (1970-01-01 00:00:00 UTC), so "every 15m" ticks at :00,
// :15, :30 and :45 of each hour on every host and after every restart,
// without any shared state. An interval is real time: it ignores time zones
// and daylight saving changes.
//
// # cron
//
// A cron expression has five fields separated by spaces:
//
//	minute        0-59
//	hour          0-23
//	day-of-month  1-31
//	month         1-12 or JAN-DEC
//	day-of-week   0-7 or SUN-SAT (0 and 7 are both Sunday)
//
// Each field is a comma-separated list of terms; a term is
//
//	n       one value
//	*       every value of the field
//	a-b     the values a to b
//	*/n     every n-th value from the field's first
//	a-b/n   every n-th value from a to b
//	a/n     every n-th value from a to the field's last (Saturday for day-of-week)
//
// Month and weekday names are case-insensitive and may be used wherever a
// number may, ranges included ("MON-FRI", "JAN-MAR/2"). The macros are
//
//	@yearly, @annually  0 0 1 1 *
//	@monthly            0 0 1 * *
//	@weekly             0 0 * * 0
//	@daily, @midnight   0 0 * * *
//	@hourly             0 * * * *
//
// Nothing else is accepted: a sixth (seconds or year) field, @reboot, and the
// L, W, ? and # of some other crons are refused with an error, rather than
// read in a way the writer did not mean.
//
// When both day-of-month and day-of-week are restricted (neither is written
// as a plain *), a day matches when either matches, as in classic cron:
// "0 0 1,15 * MON" ticks on the 1st, on the 15th and on every Monday. When
// one of them is *, only the other counts. Any field other than a plain *,
// even */1, counts as restricted.
//
// A schedule that cannot tick within five years ("0 0 30 2 *") never ticks.
//
// # Time zones and daylight saving
//
// A cron expression reads the wall clock of its time zone (the timezone key,
// or the host's local zone when it is not set). Where a change of the clock
// makes a wall time skip or repeat:
//
//   - A wall time that does not exist that day, because the clock springs
//     forward over it, ticks once at the first instant after the gap: a
//     daily 02:30 in Europe/Paris ticks at 03:00 on the last Sunday of March.
//     Several skipped times of one schedule (02:00, 02:15, ... every 15
//     minutes) make a single tick at that instant.
//   - A wall time that occurs twice, because the clock falls back over it,
//     ticks once, at its first occurrence: a daily 02:30 in Europe/Paris
//     ticks at 02:30 summer time on the last Sunday of October, not again an
//     hour later.
//   - Except: when the hour field is * or a step over the whole day (*/n,
//     0-23, 0-23/n), the schedule ticks in both occurrences of the repeated
//     hour, so that "*/15 * * * *" keeps ticking every 15 minutes of real
//     time through the change, and "0 * * * *" ticks at both 01:00 in
//     America/New_York on the first Sunday of November.
//
// # Missed ticks
//
// A tick is on time when kilnd sees it within the grace period after it;
// older ticks were missed (kilnd was down or stopped). The catch-up mode
// says what to do with the missed ones: none drops them, last runs only the
// newest of them, all runs them all up to a maximum (the newest ones). See
// [Due].
package schedule
