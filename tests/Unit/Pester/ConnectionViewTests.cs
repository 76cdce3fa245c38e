using System.Globalization;
using JP1Dist.Contracts;
using Xunit;

namespace JP1Dist.Tests.Pester;

/// <summary>
/// The views of the connection object (Connect-DistManager, Get-DistManager -Connection) rendered by the real PowerShell
/// engine from the module's format file, as a console of a given width shows them: the table fits 80 columns without
/// cutting anything, the list shows every property.
/// </summary>
public sealed class ConnectionViewTests
{
    private const string Pin = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    private static readonly DistConnection Remote = new(true, "https://mgr01.corp.local:22400/", "Connect-DistManager", "Night shift", DistRole.Administrator, Pin);
    private static readonly DistConnection Runbook = new(true, "https://10.1.2.3:22400/", "JP1DIST_MANAGER_URI", "runbook", DistRole.Operator);
    private static readonly DistConnection Local = new(false, "/home/admin/.local/share/JP1Dist", "Local");

    [Fact]
    public void A_long_location_wraps_in_its_column_and_is_not_cut()
    {
        var text = Render(80, null, Local with { Location = "/srv/jp1dist/data/site-a/manager-primary/home" });
        Assert.All(Lines(text), l => Assert.True(l.Length <= 80, $"wider than 80 columns: '{l}'"));
        Assert.Contains("/srv/jp1dist/data/site-a/manager-primary/home", string.Concat(Lines(text).Skip(2).Select(l => l[..Math.Min(32, l.Length)].Trim())), StringComparison.Ordinal);
    }

    [Fact]
    public void The_default_view_is_a_table_that_fits_80_columns_and_cuts_nothing()
    {
        var narrow = Render(80, null, Remote, Runbook, Local);
        var wide = Render(300, null, Remote, Runbook, Local);
        // Fixed widths: a table that fits 80 columns renders exactly as on a wide console (nothing cut or wrapped away).
        Assert.Equal(wide, narrow);
        var lines = Lines(narrow);
        Assert.All(lines, l => Assert.True(l.Length <= 80, $"wider than 80 columns: '{l}'"));
        Assert.Contains(lines, l => l.StartsWith("Location", StringComparison.Ordinal) && l.Contains("Via", StringComparison.Ordinal)
            && l.Contains("Principal", StringComparison.Ordinal) && l.Contains("Role", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("https://mgr01.corp.local:22400/", StringComparison.Ordinal) && l.Contains("Connect-DistManager", StringComparison.Ordinal)
            && l.Contains("Night shift", StringComparison.Ordinal) && l.Contains("Administrator", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("JP1DIST_MANAGER_URI", StringComparison.Ordinal) && l.Contains("Operator", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("Local", StringComparison.Ordinal) && l.Contains("/home/admin/.local/share/JP1Dist", StringComparison.Ordinal));
        Assert.DoesNotContain("…", narrow, StringComparison.Ordinal);
    }

    [Fact]
    public void The_list_view_shows_every_property_with_its_value()
    {
        // 120 columns: the pin's 64 digits after the label take 81, so an 80-column console wraps that one line.
        var lines = Lines(Render(120, "Format-List", Remote));
        foreach (var property in typeof(DistConnection).GetProperties().Where(p => p.Name != "EqualityContract"))
        {
            var line = Assert.Single(lines, l => l.StartsWith(property.Name + " ", StringComparison.Ordinal));
            Assert.EndsWith(": " + Convert.ToString(property.GetValue(Remote), CultureInfo.InvariantCulture), line, StringComparison.Ordinal);
        }
    }

    private static string[] Lines(string text) => ViewRendering.Lines(text);

    private static string Render(int width, string? format, params DistConnection[] objects) => ViewRendering.Render(width, format, objects);
}
