using JP1Dist.HelpBuilder;

if (args.Length != 2)
{
    await Console.Error.WriteLineAsync("usage: JP1Dist.HelpBuilder <markdown folder> <output MAML file>");
    await Console.Error.WriteLineAsync("  e.g. dotnet run --project src/HelpBuilder -- docs/cmdlets src/PSModule/en-US/JP1Dist.PowerShell.dll-Help.xml");
    return 2;
}
try
{
    var xml = HelpConverter.ConvertFolder(args[0]);
    var output = Path.GetFullPath(args[1]);
    Directory.CreateDirectory(Path.GetDirectoryName(output)!);
    await File.WriteAllTextAsync(output, xml, HelpConverter.Encoding);
    Console.WriteLine($"Wrote {HelpConverter.ReadFolder(args[0]).Count} command(s) to {output}");
    return 0;
}
catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
{
    await Console.Error.WriteLineAsync($"JP1Dist.HelpBuilder: {e.Message}");
    return 1;
}
