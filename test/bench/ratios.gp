# Bar chart of an aifs benchmark run; bench.py calls
#   gnuplot -e "ratios='R'; absolute='A'; nabs=N; out='PNG'" ratios.gp
# R rows: "label" aifs/native target met pll/native bindfs/native  (NaN: not measured)
# A rows: "label" figure/target 1 met   (absolute targets; >= 1 meets them)
# met: 1 target met, 0 missed, 2 no target
set terminal pngcairo size 1400,900 font "sans,10" noenhanced
set output out
set multiplot layout (nabs > 0 ? 2 : 1),1 title "ratios to native (median); aifs green: target met, red: missed, grey: no target; blue: passthrough_ll, light blue: bindfs; black bar: target"
set rmargin 12
colour(m) = m == 1 ? 0x2ca02c : (m == 0 ? 0xd62728 : 0x999999)
set style fill solid 0.8 border -1
set boxwidth 0.25 absolute
set offsets 0.5, 0.5, graph 0.1, 0
set grid ytics
set yrange [0:*]
set xtics rotate by -30 left nomirror
set key off
set ylabel "over native"
plot ratios using ($0-0.27):2:(colour($4)):xtic(1) with boxes lc rgb variable, \
     ratios using 0:5 with boxes lc rgb "#1f77b4", \
     ratios using ($0+0.27):6 with boxes lc rgb "#9ecae1", \
     ratios using ($0-0.42):3:(0.84):(0) with vectors nohead lw 3 lc rgb "black", \
     ratios using ($0-0.27):2:(sprintf("%.2f", $2)) with labels offset 0,0.7
if (nabs > 0) {
    set boxwidth 0.6 absolute
    set ylabel "figure / target (>= 1 meets it)"
    set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 3 lc rgb "black"
    plot absolute using 0:2:(colour($4)):xtic(1) with boxes lc rgb variable, \
         absolute using 0:2:(sprintf("%.2f", $2)) with labels offset 0,0.7
}
unset multiplot
