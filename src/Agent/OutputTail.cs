using System.Text;

namespace JP1Dist.Agent;

/// <summary>Keeps the last characters of a process's output lines, thread-safe.</summary>
internal sealed class OutputTail(int capacity)
{
    private readonly StringBuilder _text = new();
    private readonly Lock _lock = new();

    public void Add(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_lock)
        {
            _text.AppendLine(line);
            if (_text.Length > capacity * 2)
            {
                _text.Remove(0, _text.Length - capacity);
            }
        }
    }

    public override string ToString()
    {
        lock (_lock)
        {
            var text = _text.ToString();
            return text.Length > capacity ? text[^capacity..] : text;
        }
    }
}
