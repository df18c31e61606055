package io.slatestream.local;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import javax.imageio.ImageIO;

/**
 * The local run's report: one HTML page a person can open, with the phases' figures and two
 * charts drawn here with Java2D (like rate over time per model, and the distribution of
 * request-to-slate latency), embedded as PNG and also written beside the page. Two line charts
 * need no charting library.
 */
final class DemoReport {

  /** What the report says about the run besides the measurements. */
  record RunInfo(String title, List<String> settings, long trainingStartMs, long releaseMs, String heuristic,
      String model, List<String> notes) {}

  private static final int W = 900;
  private static final int H = 420;
  private static final int LEFT = 70;
  private static final int RIGHT = 30;
  private static final int TOP = 64;
  private static final int BOTTOM = 60;
  private static final Color[] COLORS = {new Color(0x4C72B0), new Color(0xDD8452), new Color(0x55A868),
      new Color(0xC44E52)};

  /** A bucket with fewer answers of a model is not plotted: its like rate is mostly noise. */
  private static final int MIN_ANSWERS = 30;

  private DemoReport() {}

  /** Writes index.html, like-rate.png and latency.png into {@code dir}; returns the page. */
  static Path write(Path dir, DemoStats stats, RunInfo info, List<String[]> table) throws IOException {
    Files.createDirectories(dir);
    System.setProperty("java.awt.headless", "true");
    List<String> models = stats.models();
    byte[] likeRate = png(likeRateChart(stats, info, models));
    byte[] latency = png(latencyChart(stats, models));
    Files.write(dir.resolve("like-rate.png"), likeRate);
    Files.write(dir.resolve("latency.png"), latency);

    StringBuilder h = new StringBuilder();
    h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>")
        .append(esc(info.title())).append("</title>\n<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;"
            + "color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
            + "th:first-child,td:first-child{text-align:left}img{max-width:100%;border:1px solid #eee}"
            + ".small{color:#555;font-size:90%}</style></head><body>\n");
    h.append("<h1>").append(esc(info.title())).append("</h1>\n<p class=\"small\">");
    for (String s : info.settings()) {
      h.append(esc(s)).append("<br>\n");
    }
    h.append("</p>\n<h2>Phases</h2>\n<table>\n");
    for (int r = 0; r < table.size(); r++) {
      h.append("<tr>");
      for (String cell : table.get(r)) {
        String tag = r == 0 ? "th" : "td";
        h.append('<').append(tag).append('>').append(esc(cell)).append("</").append(tag).append('>');
      }
      h.append("</tr>\n");
    }
    h.append("</table>\n<ul>\n");
    for (String n : info.notes()) {
      h.append("<li>").append(esc(n)).append("</li>\n");
    }
    h.append("</ul>\n<h2>Like rate over time</h2>\n<p class=\"small\">Share of answers to served slates that were likes, per ")
        .append(DemoStats.BUCKET_MS / 1000).append(" s, by the model that ranked the slate answered. The shaded band is "
            + "training; the dashed line is the release reaching the running job.</p>\n")
        .append("<img alt=\"like rate over time\" src=\"data:image/png;base64,")
        .append(Base64.getEncoder().encodeToString(likeRate)).append("\">\n");
    h.append("<h2>Request to slate latency</h2>\n<p class=\"small\">Wall clock from a slate request's event time to "
            + "the slate read back from the recommendations topic, by the model that ranked it (log scale).</p>\n")
        .append("<img alt=\"latency distribution\" src=\"data:image/png;base64,")
        .append(Base64.getEncoder().encodeToString(latency)).append("\">\n</body></html>\n");
    Path page = dir.resolve("index.html");
    Files.writeString(page, h.toString(), StandardCharsets.UTF_8);
    return page;
  }

  private static BufferedImage likeRateChart(DemoStats stats, RunInfo info, List<String> models) {
    TreeMap<Long, Map<String, DemoStats.Tally>> over = stats.overTime();
    long endMs = over.isEmpty() ? 1 : over.lastKey() + DemoStats.BUCKET_MS;
    double maxRate = 0.1;
    for (Map<String, DemoStats.Tally> m : over.values()) {
      for (DemoStats.Tally t : m.values()) {
        if (t.answers >= MIN_ANSWERS) {
          maxRate = Math.max(maxRate, t.likeRate());
        }
      }
    }
    double yMax = Math.min(1.0, Math.ceil(maxRate * 11) / 10);
    Canvas c = new Canvas("Like rate over time", "seconds since start", "like rate");
    double endS = endMs / 1000.0;
    double step = 5;
    for (double candidate : new double[] {5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600}) {
      step = candidate;
      if (endS / candidate <= 10) {
        break;
      }
    }
    double[] ticks = new double[(int) Math.floor(endS / step) + 1];
    for (int i = 0; i < ticks.length; i++) {
      ticks[i] = i * step;
    }
    c.axes(0, endS, 0, yMax, ticks, v -> String.format(Locale.ROOT, "%.0f", v),
        v -> String.format(Locale.ROOT, "%.0f%%", v * 100));
    if (info.trainingStartMs() > 0) {
      long to = info.releaseMs() > 0 ? info.releaseMs() : endMs + stats.startMs();
      c.band((info.trainingStartMs() - stats.startMs()) / 1000.0, (to - stats.startMs()) / 1000.0,
          new Color(0, 0, 0, 22), "training");
    }
    if (info.releaseMs() > 0) {
      c.vline((info.releaseMs() - stats.startMs()) / 1000.0, "release " + info.model());
    }
    for (int k = 0; k < models.size(); k++) {
      String model = models.get(k);
      List<double[]> points = new ArrayList<>();
      for (Map.Entry<Long, Map<String, DemoStats.Tally>> e : over.entrySet()) {
        DemoStats.Tally t = e.getValue().get(model);
        if (t != null && t.answers >= MIN_ANSWERS) {
          points.add(new double[] {(e.getKey() + DemoStats.BUCKET_MS / 2.0) / 1000.0, t.likeRate()});
        }
      }
      DemoStats.Tally all = stats.tally(model);
      c.series(points, COLORS[k % COLORS.length], String.format(Locale.ROOT, "%s (%.1f%% overall)", model,
          100 * all.likeRate()), true);
    }
    return c.image;
  }

  private static BufferedImage latencyChart(DemoStats stats, List<String> models) {
    double lo = Math.log10(5);
    double hi = Math.log10(60_000);
    int bins = 44;
    List<double[]>[] shares = new List[models.size()];
    double yMax = 0.05;
    for (int k = 0; k < models.size(); k++) {
      long[] l = stats.latencies(models.get(k), Long.MIN_VALUE);
      double[] counts = new double[bins];
      for (long v : l) {
        double x = Math.log10(Math.max(1, v));
        int b = (int) Math.floor((x - lo) / (hi - lo) * bins);
        counts[Math.max(0, Math.min(bins - 1, b))]++;
      }
      shares[k] = new ArrayList<>();
      for (int b = 0; b < bins; b++) {
        double share = l.length == 0 ? 0 : counts[b] / l.length;
        yMax = Math.max(yMax, share);
        shares[k].add(new double[] {lo + (b + 0.5) * (hi - lo) / bins, share});
      }
    }
    Canvas c = new Canvas("Request to slate latency", "milliseconds (log scale)", "share of requests");
    double[] ticks = {1, 1.30103, 1.69897, 2, 2.30103, 2.69897, 3, 3.30103, 3.69897, 4, 4.30103};
    c.axes(lo, hi, 0, Math.ceil(yMax * 21) / 20, ticks, v -> {
      long ms = Math.round(Math.pow(10, v));
      return ms >= 1000 ? ms / 1000 + " s" : ms + " ms";
    }, v -> String.format(Locale.ROOT, "%.0f%%", v * 100));
    for (int k = 0; k < models.size(); k++) {
      long[] l = stats.latencies(models.get(k), Long.MIN_VALUE);
      c.series(shares[k], COLORS[k % COLORS.length], String.format(Locale.ROOT, "%s: p50 %d ms, p99 %d ms (%,d)",
          models.get(k), DemoStats.quantile(l, 0.5), DemoStats.quantile(l, 0.99), l.length), false);
    }
    return c.image;
  }

  private static byte[] png(BufferedImage image) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ImageIO.write(image, "png", out);
    return out.toByteArray();
  }

  private static String esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }

  /** A plot area with linear axes, ticks, series and a legend. */
  private static final class Canvas {
    final BufferedImage image = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
    final Graphics2D g = image.createGraphics();
    double x0;
    double x1;
    double y0;
    double y1;
    int legendX;

    Canvas(String title, String xLabel, String yLabel) {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
      g.setColor(Color.WHITE);
      g.fillRect(0, 0, W, H);
      g.setColor(Color.DARK_GRAY);
      g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
      g.drawString(title, LEFT, 24);
      g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
      FontMetrics fm = g.getFontMetrics();
      g.drawString(xLabel, LEFT + (W - LEFT - RIGHT - fm.stringWidth(xLabel)) / 2, H - 14);
      var at = g.getTransform();
      g.rotate(-Math.PI / 2);
      g.drawString(yLabel, -(TOP + (H - TOP - BOTTOM + fm.stringWidth(yLabel)) / 2), 16);
      g.setTransform(at);
    }

    int px(double x) {
      return LEFT + (int) Math.round((x - x0) / (x1 - x0) * (W - LEFT - RIGHT));
    }

    int py(double y) {
      return H - BOTTOM - (int) Math.round((y - y0) / (y1 - y0) * (H - TOP - BOTTOM));
    }

    /** Linear axes; {@code xTicks} null for nine evenly spaced ones. */
    void axes(double x0, double x1, double y0, double y1, double[] xTicks, java.util.function.DoubleFunction<String> xTick,
        java.util.function.DoubleFunction<String> yTick) {
      this.x0 = x0;
      this.x1 = x1 <= x0 ? x0 + 1 : x1;
      this.y0 = y0;
      this.y1 = y1 <= y0 ? y0 + 1 : y1;
      FontMetrics fm = g.getFontMetrics();
      for (int i = 0; i <= 5; i++) {
        double y = this.y0 + i * (this.y1 - this.y0) / 5;
        g.setColor(new Color(0xEEEEEE));
        g.drawLine(LEFT, py(y), W - RIGHT, py(y));
        g.setColor(Color.DARK_GRAY);
        String s = yTick.apply(y);
        g.drawString(s, LEFT - 6 - fm.stringWidth(s), py(y) + 4);
      }
      if (xTicks == null) {
        xTicks = new double[9];
        for (int i = 0; i <= 8; i++) {
          xTicks[i] = this.x0 + i * (this.x1 - this.x0) / 8;
        }
      }
      for (double x : xTicks) {
        String s = xTick.apply(x);
        g.drawLine(px(x), H - BOTTOM, px(x), H - BOTTOM + 4);
        g.drawString(s, px(x) - fm.stringWidth(s) / 2, H - BOTTOM + 18);
      }
      g.drawLine(LEFT, H - BOTTOM, W - RIGHT, H - BOTTOM);
      g.drawLine(LEFT, TOP, LEFT, H - BOTTOM);
    }

    void band(double from, double to, Color color, String label) {
      g.setColor(color);
      g.fillRect(px(from), TOP, Math.max(1, px(to) - px(from)), H - TOP - BOTTOM);
      g.setColor(Color.GRAY);
      g.drawString(label, px(from) + 4, TOP + 14);
    }

    void vline(double x, String label) {
      g.setColor(Color.GRAY);
      g.setStroke(new BasicStroke(1.2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10, new float[] {6, 4}, 0));
      g.drawLine(px(x), TOP, px(x), H - BOTTOM);
      g.setStroke(new BasicStroke());
      g.drawString(label, px(x) + 4, TOP + 28);
    }

    void series(List<double[]> points, Color color, String label, boolean markers) {
      g.setColor(color);
      g.setStroke(new BasicStroke(2f));
      for (int i = 1; i < points.size(); i++) {
        g.drawLine(px(points.get(i - 1)[0]), py(points.get(i - 1)[1]), px(points.get(i)[0]), py(points.get(i)[1]));
      }
      if (markers) {
        for (double[] p : points) {
          g.fillOval(px(p[0]) - 3, py(p[1]) - 3, 7, 7);
        }
      }
      g.setStroke(new BasicStroke());
      // The legend runs in one row between the title and the plot.
      int x = legendX == 0 ? LEFT : legendX;
      int y = TOP - 18;
      g.fillRect(x, y - 9, 14, 9);
      g.setColor(Color.DARK_GRAY);
      g.drawString(label, x + 20, y);
      legendX = x + 20 + g.getFontMetrics().stringWidth(label) + 24;
    }
  }
}
