using JP1Dist.Contracts;
using JP1Dist.Protocol;

namespace JP1Dist.Core.Domain;

/// <summary>
/// The engine stores UTC; what it hands to people is local time, as PowerShell's own cmdlets do, so that a
/// filter such as <c>Where-Object CompletedAt -gt (Get-Date).AddHours(-1)</c> compares like with like.
/// </summary>
public static class LocalTime
{
    public static DateTime AsLocal(this DateTime utc) => DateTime.SpecifyKind(utc, DateTimeKind.Utc).ToLocalTime();

    public static DateTime? AsLocal(this DateTime? utc) => utc?.AsLocal();
}
