using System.Globalization;
using System.Text;
using System.Xml;
using Spark.Eval.Core.Metrics;

namespace Spark.Eval.Reporting;

/// <summary>
/// Writes a gate as JUnit XML in the common schema CI systems read (Jenkins xUnit's junit-10.xsd, the Ant/Surefire
/// shape GitHub, GitLab and Azure Pipelines accept): one &lt;testsuite&gt; per backend, one &lt;testcase&gt; per gated
/// metric, &lt;failure&gt; with the numbers when it failed, &lt;skipped&gt; when it could not be decided.
/// </summary>
public static class JUnitReport
{
    public static string Render(GateReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var settings = new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false), OmitXmlDeclaration = false };
        using var buffer = new Utf8StringWriter();
        using (var xml = XmlWriter.Create(buffer, settings))
        {
            xml.WriteStartDocument();
            xml.WriteStartElement("testsuites");
            xml.WriteAttributeString("name", report.Name);
            WriteCounts(xml, report.Cases);
            foreach (var group in report.Cases.GroupBy(c => c.Backend, StringComparer.Ordinal))
            {
                xml.WriteStartElement("testsuite");
                xml.WriteAttributeString("name", group.Key);
                WriteCounts(xml, [.. group]);
                xml.WriteAttributeString("timestamp", report.TimestampUtc.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture));
                foreach (var gate in group)
                {
                    xml.WriteStartElement("testcase");
                    xml.WriteAttributeString("classname", "spark-eval." + gate.Backend);
                    xml.WriteAttributeString("name", gate.Metric);
                    xml.WriteAttributeString("time", "0");
                    if (gate.Status == GateStatus.Failed)
                    {
                        xml.WriteStartElement("failure");
                        xml.WriteAttributeString("type", "regression");
                        xml.WriteAttributeString("message", $"{gate.Backend} {gate.Metric}: {gate.Detail}");
                        xml.WriteString(string.Join('\n', [$"{gate.Backend} {gate.Metric}: {gate.Detail}", .. report.Notes]));
                        xml.WriteEndElement();
                    }
                    else if (gate.Status == GateStatus.Skipped)
                    {
                        xml.WriteStartElement("skipped");
                        xml.WriteAttributeString("message", gate.Detail);
                        xml.WriteEndElement();
                    }
                    else
                    {
                        xml.WriteElementString("system-out", gate.Detail);
                    }

                    xml.WriteEndElement();
                }

                xml.WriteEndElement();
            }

            xml.WriteEndElement();
            xml.WriteEndDocument();
        }

        return buffer.ToString() + "\n";
    }

    private static void WriteCounts(XmlWriter xml, IReadOnlyCollection<GateCase> cases)
    {
        xml.WriteAttributeString("tests", cases.Count.ToString(CultureInfo.InvariantCulture));
        xml.WriteAttributeString("failures", cases.Count(c => c.Status == GateStatus.Failed).ToString(CultureInfo.InvariantCulture));
        xml.WriteAttributeString("errors", "0");
        xml.WriteAttributeString("skipped", cases.Count(c => c.Status == GateStatus.Skipped).ToString(CultureInfo.InvariantCulture));
        xml.WriteAttributeString("time", "0");
    }

    private sealed class Utf8StringWriter : StringWriter
    {
        public Utf8StringWriter() : base(CultureInfo.InvariantCulture) { }

        public override Encoding Encoding => new UTF8Encoding(false);
    }
}
