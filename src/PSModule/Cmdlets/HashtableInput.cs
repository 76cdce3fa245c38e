using System.Collections;
using System.Management.Automation;

namespace JP1Dist.PowerShell.Cmdlets;

/// <summary>
/// Unwraps a hashtable bound from PowerShell (values may be PSObjects or arrays of them) into plain values and arrays
/// for the services to read: -InstallCondition of New-DistPackage and New-DistJob, -Rule of Set-DistIdGroupPolicy.
/// </summary>
internal static class HashtableInput
{
    public static Hashtable Unwrap(Hashtable input)
    {
        var plain = new Hashtable(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry entry in input)
        {
            plain[entry.Key] = Plain(entry.Value);
        }
        return plain;
    }

    private static object? Plain(object? value) => value switch
    {
        PSObject wrapped => Plain(wrapped.BaseObject),
        string text => text,
        IEnumerable items => items.Cast<object?>().Select(Plain).ToArray(),
        _ => value,
    };
}
