namespace JP1Dist.Bench.Baseline;

/// <summary>Reads the manager's log files for warnings and errors, which say more about behaviour under load than timings do.</summary>
public static class ServerLog
{
    private const int MaxSamples = 5;

    /// <summary>Counts warning and error lines in every log file of the folder; null when there is no folder.</summary>
    public static ServerLogSummary? Summarize(string logFolder)
    {
        if (!Directory.Exists(logFolder))
        {
            return null;
        }
        int warnings = 0, errors = 0;
        var samples = new List<string>();
        foreach (var file in Directory.EnumerateFiles(logFolder, "*.log"))
        {
            // The log is opened shared by the manager; read it the same way in case a writer is still closing.
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            while (reader.ReadLine() is { } line)
            {
                var warning = line.Contains(" [WRN] ", StringComparison.Ordinal);
                var error = line.Contains(" [ERR] ", StringComparison.Ordinal) || line.Contains(" [FTL] ", StringComparison.Ordinal);
                warnings += warning ? 1 : 0;
                errors += error ? 1 : 0;
                if ((warning || error) && samples.Count < MaxSamples)
                {
                    // Drop the timestamp so that repeats of one message count once.
                    var text = line[(line.IndexOf(" [", StringComparison.Ordinal) + 1)..];
                    text = text.Length > 300 ? text[..300] : text;
                    if (!samples.Contains(text))
                    {
                        samples.Add(text);
                    }
                }
            }
        }
        return new ServerLogSummary(warnings, errors, samples);
    }

    /// <summary>
    /// Counts the warnings and the errors (ERROR, FATAL, PANIC) a PostgreSQL server logged between <paramref name="from"/>
    /// and <paramref name="to"/> (offsets in its log file; null: to the end), with a few distinct messages, each with how
    /// often it came; null when there is no such file.
    /// </summary>
    public static ServerLogSummary? SummarizePostgres(string logFile, long from, long? to = null)
    {
        if (!File.Exists(logFile))
        {
            return null;
        }
        int warnings = 0, errors = 0;
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        using var stream = new FileStream(logFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        stream.Seek(Math.Min(from, stream.Length), SeekOrigin.Begin);
        using var reader = new StreamReader(new PartOfStream(stream, (to ?? stream.Length) - Math.Min(from, stream.Length)));
        while (reader.ReadLine() is { } line)
        {
            var warning = line.Contains(" WARNING: ", StringComparison.Ordinal);
            var error = line.Contains(" ERROR: ", StringComparison.Ordinal) || line.Contains(" FATAL: ", StringComparison.Ordinal) || line.Contains(" PANIC: ", StringComparison.Ordinal);
            warnings += warning ? 1 : 0;
            errors += error ? 1 : 0;
            if (warning || error)
            {
                // Drop the time and process id ("2026-01-02 03:04:05.678 UTC [1234] ") so that repeats count once.
                var text = line[(line.IndexOf("] ", StringComparison.Ordinal) + 2)..];
                text = text.Length > 300 ? text[..300] : text;
                if (counts.Count < 20 || counts.ContainsKey(text))
                {
                    counts[text] = counts.GetValueOrDefault(text) + 1;
                }
            }
        }
        var samples = counts.OrderByDescending(c => c.Value).Take(MaxSamples * 2).Select(c => $"{c.Value}x {c.Key}").ToList();
        return new ServerLogSummary(warnings, errors, samples);
    }

    /// <summary>The first <c>length</c> bytes of a stream from its position: a part of a log that another process may still be writing.</summary>
    private sealed class PartOfStream(Stream inner, long length) : Stream
    {
        private long _left = Math.Max(0, length);

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, (int)Math.Min(count, _left));
            _left -= read;
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>How long a log file is now (0 when there is none): where a round's part of a shared log begins.</summary>
    public static long LengthOf(string logFile) => File.Exists(logFile) ? new FileInfo(logFile).Length : 0;
}
