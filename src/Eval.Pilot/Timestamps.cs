using System.Globalization;

namespace Spark.Eval.Pilot;

/// <summary>ISO 8601 timestamps to Unix milliseconds: a fast path for the common shape, the framework parser otherwise.</summary>
internal static class Timestamps
{
    /// <summary>Parses <c>yyyy-MM-ddTHH:mm:ss[.fraction](Z|±HH:mm)</c>; a value without an offset is UTC.</summary>
    public static bool TryParseUnixMs(ReadOnlySpan<char> text, out long unixMs)
    {
        text = text.Trim();
        if (TryFast(text, out unixMs))
        {
            return true;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AllowWhiteSpaces, out var parsed))
        {
            unixMs = parsed.ToUnixTimeMilliseconds();
            return true;
        }

        unixMs = 0;
        return false;
    }

    /// <summary>Nanoseconds since the epoch as OTLP JSON writes them (a decimal string or a number).</summary>
    public static bool TryParseUnixNanos(ReadOnlySpan<char> text, out long unixMs)
    {
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var nanos) && nanos > 0)
        {
            unixMs = nanos / 1_000_000;
            return true;
        }

        unixMs = 0;
        return false;
    }

    private static bool TryFast(ReadOnlySpan<char> s, out long unixMs)
    {
        unixMs = 0;
        if (s.Length < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        {
            return false;
        }

        if (!Digits(s, 0, 4, out var year) || !Digits(s, 5, 2, out var month) || !Digits(s, 8, 2, out var day)
            || !Digits(s, 11, 2, out var hour) || !Digits(s, 14, 2, out var minute) || !Digits(s, 17, 2, out var second))
        {
            return false;
        }

        if (month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(Math.Max(1, year), month) || hour > 23 || minute > 59 || second > 59)
        {
            return false;
        }

        var i = 19;
        var millis = 0;
        if (i < s.Length && s[i] == '.')
        {
            i++;
            var digits = 0;
            while (i < s.Length && char.IsAsciiDigit(s[i]))
            {
                if (digits < 3)
                {
                    millis = (millis * 10) + (s[i] - '0');
                }

                digits++;
                i++;
            }

            if (digits == 0)
            {
                return false;
            }

            for (; digits < 3; digits++)
            {
                millis *= 10;
            }
        }

        var offsetMinutes = 0;
        if (i == s.Length || (s[i] == 'Z' && i == s.Length - 1))
        {
            // UTC
        }
        else if ((s[i] == '+' || s[i] == '-') && s.Length - i == 6 && s[i + 3] == ':'
            && Digits(s, i + 1, 2, out var oh) && Digits(s, i + 4, 2, out var om))
        {
            offsetMinutes = (s[i] == '-' ? -1 : 1) * ((oh * 60) + om);
        }
        else
        {
            return false;
        }

        var days = DaysFromCivil(year, month, day);
        unixMs = (((days * 24) + hour) * 3600 + (minute * 60) + second - (offsetMinutes * 60L)) * 1000 + millis;
        return true;
    }

    private static bool Digits(ReadOnlySpan<char> s, int start, int count, out int value)
    {
        value = 0;
        for (var i = start; i < start + count; i++)
        {
            var c = s[i];
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }

    // Howard Hinnant's days_from_civil: days since 1970-01-01 for a proleptic Gregorian date.
    private static long DaysFromCivil(int y, int m, int d)
    {
        y -= m <= 2 ? 1 : 0;
        var era = (y >= 0 ? y : y - 399) / 400;
        var yoe = y - (era * 400);
        var doy = ((153 * (m + (m > 2 ? -3 : 9))) + 2) / 5 + d - 1;
        var doe = (yoe * 365) + (yoe / 4) - (yoe / 100) + doy;
        return (era * 146097L) + doe - 719468;
    }
}
