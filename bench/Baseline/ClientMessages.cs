using System.Text.Json;

namespace JP1Dist.Bench.Baseline;

/// <summary>
/// What the benchmark asks of a client process, one JSON line on its standard input; the process answers each with one
/// <see cref="ClientReply"/> line on its standard output, in order.
/// </summary>
/// <param name="Command">register, poll, listen, mark, finish or ping (<see cref="ClientCommands"/>).</param>
/// <param name="Token">The enrollment token (register).</param>
/// <param name="Parallelism">How many of this process's agents make requests at once.</param>
/// <param name="Count">How many requests (ping).</param>
public sealed record ClientCommand(string Command, string? Token = null, int Parallelism = 1, long Count = 0);

/// <summary>A client process's answer to one command; <see cref="Error"/> set when the command failed.</summary>
/// <param name="Error">Why the command failed, else null.</param>
/// <param name="FileLimit">The process's limit on open files and sockets after raising it (the first line, unasked).</param>
/// <param name="Retries">Requests retried during the command.</param>
/// <param name="Seconds">How long the command's requests took, measured in the client process.</param>
/// <param name="Requests">The job's requests by kind (finish).</param>
/// <param name="FirstWorkAt">When the first of this process's agents received its work item (finish), UTC.</param>
/// <param name="ThreadPoolThreadsMax">The most thread-pool threads this process had.</param>
public sealed record ClientReply(
    string? Error = null,
    long? FileLimit = null,
    long Retries = 0,
    double? Seconds = null,
    RequestBreakdown? Requests = null,
    DateTime? FirstWorkAt = null,
    int ThreadPoolThreadsMax = 0);

/// <summary>The commands a client process understands.</summary>
public static class ClientCommands
{
    /// <summary>The hidden first argument that makes the benchmark executable a client process.</summary>
    public const string Argument = "client";

    /// <summary>Register every agent of the process with the token.</summary>
    public const string Register = "register";

    /// <summary>One immediate poll per agent, as a starting agent makes.</summary>
    public const string Poll = "poll";

    /// <summary>Every agent long-polls until it gets its work, does it, and ends; answered once every first poll is sent.</summary>
    public const string Listen = "listen";

    /// <summary>The job is about to be executed: requests answered from now on are the job's (finish counts them).</summary>
    public const string Mark = "mark";

    /// <summary>Answered once every agent has done its work (or one failed), with the requests answered since <see cref="Mark"/>.</summary>
    public const string Finish = "finish";

    /// <summary>Count pings, the reference.</summary>
    public const string Ping = "ping";

    /// <summary>The JSON of the lines, both ways.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
}
